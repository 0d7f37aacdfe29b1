"""Recipes that rebuild the bundled demo models and explainers (python -m l2r_training.recipes.NAME)."""
