"""E1 span and FXS port drivers (Q.921/Q.931 cores, DAHDI and simulated backends).

Built by the PRI issue; this package exists so the layout is in place from the start.
"""
