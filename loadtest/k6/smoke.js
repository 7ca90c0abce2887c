// smoke: a couple of VUs walk every route once a second to prove the
// service answers and the SLAs hold with no load. DURATION, VUS, SLEEP.
import { baseOptions, MIXES, mixRoutes, pick, think, intEnv, strEnv } from './lib/config.js';

const mix = MIXES.browse;

export const options = baseOptions(
  {
    smoke: {
      executor: 'constant-vus',
      vus: intEnv('VUS', 2),
      duration: strEnv('DURATION', '1m'),
      gracefulStop: strEnv('GRACEFUL_STOP', '5s'),
    },
  },
  mixRoutes(mix),
);

export default function () {
  pick(mix);
  think(0.5);
}
