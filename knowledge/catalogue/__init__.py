"""The service catalogue editors keep: seed content, import/export, the one service schema, editing and versions,
notices, search, reviews, link checks, example questions and what the bot couldn't answer.
"""
