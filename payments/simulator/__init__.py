"""A local stand-in for the Alipay and WeChat Pay gateways, for the demo and the tests.

It speaks both protocols as the real gateways do (signed requests in, signed answers out), keeps a ledger of
paid trades and refunds, sends signed refund notifications, serves daily statements and injects faults on
demand. It imports no payment SDK: it is an independent implementation the adapters are tested against.
"""
