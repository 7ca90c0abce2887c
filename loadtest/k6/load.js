// load: the expected production load. Ramp to VUS, hold for DURATION, ramp
// down. VUS, RAMP, DURATION, SLEEP.
import { baseOptions, MIXES, mixRoutes, pick, think, intEnv, strEnv } from './lib/config.js';

const mix = MIXES.browse;
const ramp = strEnv('RAMP', '1m');

export const options = baseOptions(
  {
    load: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: [
        { duration: ramp, target: intEnv('VUS', 50) },
        { duration: strEnv('DURATION', '5m'), target: intEnv('VUS', 50) },
        { duration: ramp, target: 0 },
      ],
      gracefulRampDown: strEnv('GRACEFUL_STOP', '10s'),
      gracefulStop: strEnv('GRACEFUL_STOP', '10s'),
    },
  },
  mixRoutes(mix),
);

export default function () {
  pick(mix);
  think(0.2);
}
