"""Generated run names of MLflow's shape, `<adjective>-<noun>-<number>`."""

import secrets

_ADJECTIVES = (
    "able amazing bold brave bright calm clean clever crisp curious dapper eager fair fancy gentle glad grand "
    "happy honest keen kind lively loud lucky mellow merry mighty neat nimble noble polite proud quick quiet "
    "rare sharp shy silent smart spry steady sunny swift tidy upbeat valiant vivid warm wise witty zesty"
).split()
_NOUNS = (
    "ant ape bass bat bear bee bird boar calf carp cat chimp cod colt cow crab crane crow deer doe dog dove "
    "duck eel elk finch fish fly foal fox frog gnat goat goose gull hare hawk hen hog horse jay kit koi lamb "
    "lark lion mole moose mouse mule newt owl ox panda pig pug ram rat roo seal shark sheep shrew skink slug "
    "snail snake squid stag stork swan toad trout whale wolf worm wren yak zebra"
).split()


def generate_run_name() -> str:
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}-{secrets.randbelow(1000)}"
