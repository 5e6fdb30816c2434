"""The teach desk's topics and their QoS (`yan_dog.teach_desk`): JSON commands in, a latched JSON state out.

Shared by the brain (which serves them), the browser panel and `teleop_keyboard` (which use them).
"""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from yan_dog.teach_desk import TEACH_COMMAND_TOPIC as TEACH_COMMAND_TOPIC
from yan_dog.teach_desk import TEACH_STATE_TOPIC as TEACH_STATE_TOPIC

# every command matters (reliable); a few may queue while the brain is busy saving
TEACH_COMMAND_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                               reliability=ReliabilityPolicy.RELIABLE)
# latched: a panel that starts later gets the newest state at once; 5 deep so that two answers published
# back to back both arrive
TEACH_STATE_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                             reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
