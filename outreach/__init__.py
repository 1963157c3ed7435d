"""What customers see: public replies and proactive notifications (not built yet)."""
