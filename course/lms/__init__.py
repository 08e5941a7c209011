"""The course and its learning management system (Canvas, Moodle, Brightspace).

- :mod:`course.lms.archive`: an LMS's download read as hostile input (caps, no links,
  no paths out of the folder, UTF-8 names, no nesting beyond one wrapper);
- :mod:`course.lms.names`: each LMS's file-naming rules, parsed;
- :mod:`course.lms.collect`: a download mapped to the roster, each student's latest
  notebook taken in into ``submitted/`` (``course-admin collect ps1 --from FILE.zip``);
- :mod:`course.lms.export`: grades in each LMS's own import format
  (``course-admin export ps1 --lms canvas --template ... --to import.csv``).
"""
