"""The runtime around Rasa: NLU components, channels, the command line and process orchestration."""
