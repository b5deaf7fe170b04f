"""Alarm intake on the box: storing signals, device supervision."""
