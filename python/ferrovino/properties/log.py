"""``ferrovino.properties.log``: ``log.level`` and its ``Level`` enum."""

from ferrovino.properties._properties import Property, PropertyEnum, enum_of


class Level(PropertyEnum):
    """``LOG_LEVEL`` values (``LOG_NONE``, ``LOG_ERROR``, ... as strings)."""

    NO = -1
    ERR = 0
    WARNING = 1
    INFO = 2
    DEBUG = 3
    TRACE = 4


level = Property("LOG_LEVEL", enum_of(Level), "level")
