"""Digests for marketing: what people said in a period, in numbers and pictures.

figures.py computes them (pure, over stored rows) · load.py reads those rows · render.py writes
HTML, Markdown, JSON and CSV · charts.py draws them · web.py serves the pages · deliver.py posts
them to Slack and e-mail through the outbox · schedule.py decides when · retention.py prunes raw
mentions after rolling them up.
"""
