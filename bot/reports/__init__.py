"""The Rasa server's reports work (issue 13): sending filed reports to the back office, telling residents
about status changes, and reading the back office's changes, in the background."""
