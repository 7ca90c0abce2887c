// spike: a quiet baseline, a sudden jump to VUS within seconds, a short
// hold, a sudden drop, and a recovery period. VUS (spike level),
// BASE_VUS, RAMP (spike edge), DURATION (spike hold), SLEEP.
import { baseOptions, MIXES, mixRoutes, pick, think, intEnv, strEnv } from './lib/config.js';

const mix = MIXES.browse;
const base = intEnv('BASE_VUS', 5);
const peak = intEnv('VUS', 200);
const edge = strEnv('RAMP', '10s');
const hold = strEnv('DURATION', '1m');

export const options = baseOptions(
  {
    spike: {
      executor: 'ramping-vus',
      startVUs: base,
      stages: [
        { duration: hold, target: base },
        { duration: edge, target: peak },
        { duration: hold, target: peak },
        { duration: edge, target: base },
        { duration: hold, target: base },
      ],
      gracefulRampDown: strEnv('GRACEFUL_STOP', '5s'),
      gracefulStop: strEnv('GRACEFUL_STOP', '5s'),
    },
  },
  mixRoutes(mix),
);

export default function () {
  pick(mix);
  think(0.1);
}
