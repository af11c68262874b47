"""Input channels registered in credentials.yml."""
