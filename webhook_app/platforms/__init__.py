"""One blueprint per platform that calls the app: KoboToolbox, Google Sheets (Apps Script), CiviCRM."""
