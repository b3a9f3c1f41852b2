"""RedisEvolve tuner: Optuna studies over a RESP server's performance configuration."""

__version__ = "0.1.0"
