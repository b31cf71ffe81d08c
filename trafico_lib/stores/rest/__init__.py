"""The Supabase REST store (DESIGN §6), through supabase-py: see :mod:`.store`."""
