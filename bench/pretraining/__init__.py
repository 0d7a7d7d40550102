"""Pretraining and transfer: checkpoints, resumable / distributed pretraining, fine-tuning (UI, FT)."""
