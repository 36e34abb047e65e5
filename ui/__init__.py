"""The Streamlit app's pages and widgets: lays out inputs, calls the estimator, renders.

No formulas live here: every number comes from ``estimator.estimate()`` (see STYLE.md).
"""
