"""Routes, one module per audience: public, sign-in, owners, planners (staff), leaders."""
