from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from logistics.api import ReturnAddressView
from mall import health
from mall.api import OrderViewSet
from mall.language import language_switch
from notices.api import NotificationViewSet
from payments.api import RefundVoucherView, StoreCreditViewSet
from refunds.api import RefundViewSet
from refunds.disputes_api import RefundDisputeViewSet

router = DefaultRouter(trailing_slash=True)
router.register("orders", OrderViewSet, basename="order")
router.register("refunds", RefundViewSet, basename="refund")
router.register("notifications", NotificationViewSet, basename="notification")
router.register(r"refunds/(?P<refund_no>[A-Za-z0-9_-]{1,32})/dispute", RefundDisputeViewSet, basename="refund-dispute")

router.register("store-credit", StoreCreditViewSet, basename="store-credit")

urlpatterns = [
    path("admin/django_rq/", include("mall.rq_dashboard")),
    path("admin/", admin.site.urls),
    # The console's language switch posts here: the choice is kept in a cookie.
    path("i18n/setlang/", language_switch, name="set_language"),
    path("api/v1/refunds/<str:refund_no>/return-address/", ReturnAddressView.as_view(), name="refund-return-address"),
    path("api/v1/refunds/<str:refund_no>/voucher/", RefundVoucherView.as_view(), name="refund-voucher"),
    path("api/v1/", include(router.urls)),
    path("logistics/", include("logistics.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's initialiser as a script of its own: the CSP runs no inline script.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api/swagger_ui.html"),
        name="api-docs",
    ),
    path("payments/", include("payments.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("django_prometheus.urls")),
    # The site has no pages of its own: its front door is the staff console (customers use the API).
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False), name="home"),
]

# A request refused before any view (body too large, too many fields) answers in the API's error shape under /api/.
handler400 = "mall.error_views.bad_request"
# A path under /api/ that no route matches answers in the API's error shape too, not with an HTML page.
handler404 = "mall.error_views.page_not_found"
# A failure outside any view that was the database or Redis out of reach answers 503 naming it; anything else 500.
handler500 = "mall.outage.server_error"
