"""Reports residents make in the chat (issue 13): the categories, drafts still being asked about, filing with
a reference, duplicates nearby, sending to the back office over Open311, status changes and telling the
residents attached to a report about them."""
