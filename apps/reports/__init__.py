"""Analytics: KPIs, facts and rollups, exports, wallboard, alerts, scheduled reports."""
