"""Numbered migration scripts, applied in order by `commcredits migrate` (peewee's runner)."""
