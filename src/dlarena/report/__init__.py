"""Reports from the store: rows shared by the CLI, HTML with plotly, Markdown."""
