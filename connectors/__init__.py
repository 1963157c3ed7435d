"""One module per outside source or probe; `base` holds the contracts and the error vocabulary."""
