"""The environment a `Config` describes: `make_env(config)`, what training, evaluation, inspect and
pack build their BinPack from (the instances of `--generator`, a CSV's, or rows given in Python; the
EMS slots, observed EMSs, support and rotation rules of the settings).
"""
from purepi.env.env import BinPack
from purepi.env.generator import CSVGenerator, ItemListGenerator, RandomBoxGenerator, RandomGenerator
from purepi.env.load_generator import RandomLoadGenerator


# EMS slots kept for any load: 20 items of `--generator=boxes` left up to 124 EMSs in use.
MIN_EMS_SLOTS = 160


def ems_slots(num_items: int) -> int:
  """EMS slots for a load of `num_items`: `1 + num_items / 20` per item (2 to 8), at least
  `MIN_EMS_SLOTS`.

  The EMSs in use grow faster than the items on cut instances, and few large items leave many
  small EMSs: under tightest fit the most in use at once was, per item, 1.7 / 6.2 at 20 items
  (cut / boxes), 3.1 / 2.2 at 50, 5.5 / 1.1 at 100 and 6.6 / 0.5 at 200
  (docs/results/benchmarks/ems_slots.txt, from `python -m third_party_parity.benchmarks
  ems_slots`). An EMS past the last slot overwrites slot 0 (Jumanji's rule), losing free space;
  BinPack-v2 keeps 40 for 20 items.
  """
  return max(int(num_items * min(max(1 + num_items / 20, 2), 8)), MIN_EMS_SLOTS)


def make_env(config, rows=None, training=False):
  """The BinPack environment a Config describes: random instances of `--generator`, the CSV's, or
  the instance of `rows` (`(name, length, width, height, quantity)`) when given. With `training`,
  random instances have the mixed sizes of `--train_num_items` when it is set."""
  container_dims = tuple(config.container_dims)
  num_items_choices = tuple(config.train_num_items) if training else ()
  if rows is not None:
    generator = ItemListGenerator(rows, max_num_ems=config.max_num_ems, container_dims=container_dims,
                                  max_num_items=config.max_num_items, rotations=config.rotations,
                                  default_rule=config.rotation_rule)
  elif config.csv_path:
    # Padded to max_num_items, so a network trained on random instances can pack it.
    generator = CSVGenerator(config.csv_path, max_num_ems=config.max_num_ems,
                             container_dims=container_dims, max_num_items=config.max_num_items,
                             rotations=config.rotations, default_rule=config.rotation_rule)
  elif config.generator == "loads":
    generator = RandomLoadGenerator(max_num_items=config.max_num_items, max_num_ems=config.max_num_ems,
                                    container_dims=container_dims)
  elif config.generator == "boxes":
    generator = RandomBoxGenerator(max_num_items=config.max_num_items, max_num_ems=config.max_num_ems,
                                   container_dims=container_dims, num_items_choices=num_items_choices)
  else:
    generator = RandomGenerator(
        max_num_items=config.max_num_items, max_num_ems=config.max_num_ems,
        split_num_same_items=config.split_num_same_items, container_dims=container_dims,
        num_items_choices=num_items_choices)
  return BinPack(generator=generator, obs_num_ems=config.obs_num_ems, min_support=config.min_support,
                 rotations=config.rotations)
