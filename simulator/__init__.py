"""A CTP01 provider like ChronoTrack SimpleClient: replays real, captured or synthetic reads."""
