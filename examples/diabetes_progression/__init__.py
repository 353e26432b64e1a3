"""Example: disease progression one year after baseline, trained on scikit-learn's diabetes data."""
