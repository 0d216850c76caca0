"""The interface's languages: which one a request is answered in, how it is written (direction,
collation, formats) and the catalogues its strings come from (`intake/translations/`)."""
