"""The customer-service console, one module per concern: the queue (``queue``), the refund page (``refund_page``),
the buttons and bulk actions that change a refund (``actions``), compensation refunds (``compensation``), disputes
(``disputes``), their forms (``forms``), and the panels other apps add to the refund page (``panels``).
``refunds/admin.py`` composes them and registers them with the admin site."""
