"""pbxd: the box's telephony daemon (E1 spans, FXS ports; call control comes on top)."""
