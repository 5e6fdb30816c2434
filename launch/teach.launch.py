"""Teaching in simulation: includes sim.launch.py and adds the scripted teacher, which runs `demos`
demonstrations of `skill` through the brain's teach services (recorded by the session recorder).

    ros2 launch yan_dog_ros teach.launch.py skill:=sit demos:=3

Arguments: skill, demos, and every argument of sim.launch.py. Nodes and parameter files come from
yan_dog_ros/graph.py.
"""

from yan_dog_ros.graph import launch_description


def generate_launch_description():
    return launch_description("teach")
