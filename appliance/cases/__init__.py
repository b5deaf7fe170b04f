"""Cases (工单) on the box: event-sourced, each event with (origin, origin_seq) and an HLC."""
