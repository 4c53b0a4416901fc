"""Crossing slots, bookings and their allocation."""
