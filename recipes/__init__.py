"""The recipes, shipped inside the wheel as ``coprod.recipes``: the demo (recipe and data) that
``coprod demo`` copies out, and each platform's recipe, templates and staff README. Data only:
nothing here is imported."""
