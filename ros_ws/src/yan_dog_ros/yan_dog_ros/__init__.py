"""yan-dog ROS 2 nodes: thin rclpy wiring over yan_policy, sim and yan_dog (no model or physics here)."""
