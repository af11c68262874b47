"""The council's knowledge: services, redirects and council details, with search and answer wording.

Both the Rasa side (`bot/`) and the action server (`actions/`) import from here; this package imports
neither of them.
"""
