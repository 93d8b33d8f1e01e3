"""The console's one way of writing dates and times, in every language: ``2026-12-05 14:30`` (Asia/Shanghai, the
site's time zone). ``FORMAT_MODULE_PATH`` points Django here; each language's module takes these values."""

DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
YEAR_MONTH_FORMAT = "Y-m"
MONTH_DAY_FORMAT = "m-d"
