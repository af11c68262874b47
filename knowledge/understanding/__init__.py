"""Reading a resident's message: text cleaning, Welsh, follow-ups, whether it has real words, and how service keys
map to Rasa intents.
"""
