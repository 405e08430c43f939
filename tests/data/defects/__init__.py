"""A corpus of defective clinic exports, each one defect away from a clean export.

``builder.py`` writes the clean hand-written export (``tests/data/handmade.py``) and applies one
defect (to the tables before writing, or to the bytes after); ``cases.py`` lists the cases,
each with the EXACT problems ``bonta prepare`` must report (file, row, column, value, rule and
knock-on count). ``tests/data/test_defects.py`` runs every case through the prepare stage and
also checks that nothing was written and the input was not modified.
"""
