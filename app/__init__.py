"""RaceDisplay: live finish-line displays fed by ChronoTrack chip reads."""
