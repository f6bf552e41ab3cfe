"""``coprod report``: the picture behind the flags, for staff, for sharing, and in Easy Read.

Modules, in the order a report is made:

- ``facts``: what one check run found, arranged per section (nothing judged here: the checks'
  flags, ``representation.profiles`` and ``consultation.assess_all`` say it all);
- ``disclosure``: what a shared report may say about small numbers;
- ``views``: the sections as words, tables and charts, with disclosure applied once;
- ``charts``: where each shape of a chart goes; ``pictures``: the Easy Read pictures;
- ``easy_read``: the short version for the group itself;
- ``html`` and ``markdown``: the two ways of writing a page.
"""
