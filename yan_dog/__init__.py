"""yan-dog application: teach sessions in simulation, the `yan-dog` command line, reports.

It wires the libraries together (`sim` for the robot and its teachers, `yan_policy` for the policy,
learner and skill library); neither library imports this package.
"""
