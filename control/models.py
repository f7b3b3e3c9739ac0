"""Every table of the control plane, imported once so Base.metadata knows them all."""

import control.auth.models  # noqa: F401  (users, refresh_tokens, audit_log)
import control.campaigns.models  # noqa: F401  (campaign_dialing, campaign_list, ...)
import control.crm.models  # noqa: F401  (customers, policies, claims, quotes, ...)
import control.crm.sales  # noqa: F401  (products, campaigns, leads)
import control.ha.models  # noqa: F401  (routing_fence)
import control.quality.models  # noqa: F401  (evaluation_forms, quality_reviews)
import control.staffing.models  # noqa: F401  (queue_targets)
from control.acd.models import Agent, Call, Queue, QueueMember, RoutingDecision
from control.provisioning.models import DialplanVersion, Did, MediaNode, Trunk
from control.speech.models import CallSpeech, KbArticle, SpeechPolicy, TranscriptSegment

__all__ = ["Agent", "Call", "CallSpeech", "DialplanVersion", "Did", "KbArticle", "MediaNode",
           "Queue", "QueueMember", "RoutingDecision", "SpeechPolicy", "TranscriptSegment", "Trunk"]
