"""The retention KPI report: ``churnguard.reports.build.build_report`` writes ``report.html`` and CSV tables.

Modules: ``kpis`` (customer-base KPIs), ``risklist`` (what the latest risk list says), ``content``
(everything one report shows), ``charts`` (PNG figures), ``markup``/``sections``/``html`` (the page),
``definitions``/``outreach``/``health`` (the words: the two churn rates, the outreach plan, the model
tiles), ``build`` (the atomic write).
"""
