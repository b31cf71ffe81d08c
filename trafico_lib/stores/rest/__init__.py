"""The Supabase REST store (docs/architecture.md §6), through supabase-py: see :mod:`.store`."""
