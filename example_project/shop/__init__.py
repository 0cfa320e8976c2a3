"""A toy shop whose background jobs show every way a django-jobqueue job can end."""
