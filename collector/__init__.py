"""The CTP01 collector: ChronoTrack providers in, timing reads into PostgreSQL and the bus."""
