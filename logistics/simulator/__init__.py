"""A local stand-in for a carrier's interception API, for the demo and the tests.

It answers signed requests with signed answers, decides interceptions after a delay (or as told per tracking
number), and posts signed notifications, including "delivered" events for return parcels. It shares only the
signature scheme (``logistics.carriers.signing``) with the adapter it is tested against.
"""
